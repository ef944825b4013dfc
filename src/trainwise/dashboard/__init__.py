"""The local dashboard: a small web app over the run store, bound to 127.0.0.1 by default."""
