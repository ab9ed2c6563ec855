"""The CERS site: server-rendered pages in English and French."""
