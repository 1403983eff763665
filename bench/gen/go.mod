module leaksleuth.bench/gen

go 1.26
