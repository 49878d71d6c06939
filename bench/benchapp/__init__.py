"""The installed app that contains the benchmark jobs, so a worker process can load them."""
