"""The Streamlit app's support code (no UI calls): uploads kept safe and the app's state. The page itself is ``streamlit_app.py``."""
