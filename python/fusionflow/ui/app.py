"""The Streamlit entry point: ``fusionflow ui`` runs ``streamlit run`` on this file."""

from __future__ import annotations

import streamlit as st

from fusionflow.ui import pages, session

st.set_page_config(page_title="FusionFlow", layout="wide")

me = session.user()
if me is None:
    navigation = st.navigation([st.Page(pages.login, title="Log in", url_path="login")])
else:
    entries = [
        st.Page(pages.jobs, title="Jobs", url_path="jobs", default=True),
        st.Page(pages.new_job, title="New job", url_path="new"),
        st.Page(pages.job, title="Job", url_path="job"),
        st.Page(pages.notifications, title="Notifications", url_path="notifications"),
        st.Page(pages.settings, title="Settings", url_path="settings"),
    ]
    if me["role"] == "admin":  # the API refuses users anyway; this keeps the page away
        entries.append(st.Page(pages.admin, title="Admin", url_path="admin"))
    pages.PAGES.update({page.url_path: page for page in entries})
    navigation = st.navigation(entries)
    with st.sidebar:
        st.caption(f"Logged in as **{me['username']}** ({me['role']})")
        if st.button("Log out"):
            session.log_out()
            st.rerun()
        pages.notification_badge()
navigation.run()
