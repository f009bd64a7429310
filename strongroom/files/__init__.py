"""Files: upload, download, metadata, quotas."""
