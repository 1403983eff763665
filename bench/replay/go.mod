module leaksleuth.bench/replay

go 1.26
