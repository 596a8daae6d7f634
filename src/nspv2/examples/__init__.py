"""Providers shipped with nspv2, as examples and for the README's main job."""
