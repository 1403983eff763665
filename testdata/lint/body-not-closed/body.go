// Package bodynotclosed: http.Response bodies not closed on every path.
package bodynotclosed

import (
	"errors"
	"io"
	"net/http"
)

var client = &http.Client{}

// leaks: never closed.
func status(url string) (int, error) {
	resp, err := http.Get(url) // want "body-not-closed"
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// leaks: the early return on a bad status skips Close.
func fetch(url string) ([]byte, error) {
	resp, err := client.Get(url) // want "body-not-closed"
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return data, err
}

// fixed: defer Close after the error check.
func fetchClosed(url string) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// look-alike: the response is handed to the caller, who closes it.
func open(url string) (*http.Response, error) {
	resp, err := http.Get(url)
	return resp, err
}
