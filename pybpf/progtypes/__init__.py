"""Program types: section names, context layouts, return codes and allowed helpers (platform data)."""
