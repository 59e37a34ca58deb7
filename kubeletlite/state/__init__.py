"""The state directory: events, timelines, status, and reading logs back."""
