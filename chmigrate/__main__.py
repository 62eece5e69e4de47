from chmigrate.cli.start import main

main()
