"""Routes of the agent console."""

urlpatterns: list = []
