"""The operators' console: sign-in, the dashboard and incident workspace, the administrators' pages."""
