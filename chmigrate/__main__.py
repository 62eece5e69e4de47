from chmigrate.cli.app import main

main()
