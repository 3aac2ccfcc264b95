"""Suite-wide pytest setup. The emulator fixtures come from django_alioss's own plugin."""

pytest_plugins = ["pytester"]
