"""HTTP endpoints the widget calls (bootstrap, history, uploads)."""

urlpatterns: list = []
