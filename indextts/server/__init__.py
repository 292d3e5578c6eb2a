"""Serving: one ASGI app on one port with the HTTP API and the Gradio UI."""
