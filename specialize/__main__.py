from specialize.cli.entry import main

main()
