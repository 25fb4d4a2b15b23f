"""The Streamlit sandbox (talks only to the lab service layer)."""
