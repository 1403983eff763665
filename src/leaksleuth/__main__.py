from leaksleuth.cli.main import run

run()
