"""The stand-ins' HTML templates (a package so that the wheel carries them as package data)."""
