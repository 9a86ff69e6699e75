"""huddle's terminal side: the command line, the headless printer and the Textual app.

Importing this package loads nothing heavy; Textual is imported only by the app.
"""
