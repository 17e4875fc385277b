"""AI bots: providers, the answer pipeline and the knowledge bases they draw on."""
