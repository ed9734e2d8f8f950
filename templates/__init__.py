"""The Jinja templates rendered into every generated package (shipped inside the wheel)."""
