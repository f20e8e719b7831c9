"""Tests of the pages: test-client checks and Playwright runs in Chromium."""
