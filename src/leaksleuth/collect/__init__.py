"""Getting profiles: files and URLs (``load``), sampling over time, the fleet scraper, discovery, the store's feed."""

# a debug=2 goroutine dump stops the world while it is written: above this many goroutines only protos are fetched
DEBUG2_THRESHOLD = 5000

# seconds between a watcher's rounds unless --interval says otherwise
WATCH_INTERVAL = 10.0
