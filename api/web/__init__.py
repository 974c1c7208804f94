"""The browser side: server-rendered pages, session sign-in, SVG charts."""
