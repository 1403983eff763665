module leaksleuth.demo/checkout

go 1.26
