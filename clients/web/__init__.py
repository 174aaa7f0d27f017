"""The web page the API serves: jobs with live progress, submission, and a player with the
subtitles of every language."""
