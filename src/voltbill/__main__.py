from voltbill.cli import run

run()
