"""Shipped presets (TOML) and the demo's mmdet config; data only."""
