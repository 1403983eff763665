module lintcorpus

go 1.22
