from inboxbot.cli.entry import main

main()
