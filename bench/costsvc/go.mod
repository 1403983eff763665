module leaksleuth.bench/costsvc

go 1.26
