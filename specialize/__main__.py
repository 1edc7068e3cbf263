from specialize.entry import main

main()
