from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.forms import UserCreationForm


class SignUpForm(UserCreationForm):
    """UserCreationForm plus a required email address that no other account uses."""

    email = forms.EmailField(
        max_length=254,
        help_text="We send a confirmation link to this address.",
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = BaseUserManager.normalize_email(self.cleaned_data["email"])
        # NOTE: auth_user.email has no unique constraint, so two sign-ups racing
        # with the same address can both pass this check.
        if get_user_model()._default_manager.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this email address already exists.", code="duplicate_email"
            )
        return email
