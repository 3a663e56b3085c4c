"""Photos: upload, checks and clean-up, storage, serving, and withdrawal."""
