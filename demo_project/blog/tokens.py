"""Tokens for the sign-up confirmation link."""

from django.contrib.auth.tokens import PasswordResetTokenGenerator


class ConfirmationTokenGenerator(PasswordResetTokenGenerator):
    """Sign confirmation links apart from password-reset links.

    Its own salt keeps a confirmation token from working at the
    password-reset view. Tokens expire after PASSWORD_RESET_TIMEOUT seconds
    (3 days by default) and once the user logs in or changes their password.
    """

    key_salt = "demo_project.blog.tokens.ConfirmationTokenGenerator"


confirmation_token_generator = ConfirmationTokenGenerator()
