from crosstrack.cli import main

main()
