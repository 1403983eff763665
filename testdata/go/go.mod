module leaksleuth.test/corpus

go 1.26
