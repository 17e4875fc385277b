"""Agent-console pages for AI bots and knowledge bases (tenant admins)."""
