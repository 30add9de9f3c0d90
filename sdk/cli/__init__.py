"""The `mottrack` command line."""
