"""Tests of the Meter contract against a local anvil node (web3.py)."""
