from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import urlsafe_base64_decode
from django.views.decorators.http import require_GET, require_http_methods
from django.views.generic import DetailView, ListView

from django_activejob.mail import deliver_later

from .forms import SignUpForm
from .jobs import SignUpConfirmationEmailJob, welcome_email
from .models import Post
from .tokens import confirmation_token_generator


class PublishedPostMixin:
    def get_queryset(self):
        # Posts with a future published_at stay hidden until then.
        return Post.objects.filter(published_at__lte=timezone.now())


class PostListView(PublishedPostMixin, ListView):
    template_name = "blog/post_list.html"
    context_object_name = "posts"
    paginate_by = 10


class PostDetailView(PublishedPostMixin, DetailView):
    template_name = "blog/post_detail.html"
    context_object_name = "post"


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create an inactive user and enqueue the confirmation email, without sending it.

    The user and the DelayedJob row are written in one transaction, so a
    worker never performs a job for a user that was rolled back, and a
    failed enqueue leaves no user behind.
    """
    if request.method == "POST":
        form = SignUpForm(request.POST)
        if form.is_valid():
            with transaction.atomic():
                form.instance.is_active = False
                user = form.save()
                SignUpConfirmationEmailJob.perform_later(user.id)
            return redirect("blog:signup_done")
    else:
        form = SignUpForm()
    return render(request, "blog/signup.html", {"form": form})


@require_GET
def signup_done(request: HttpRequest) -> HttpResponse:
    return render(request, "blog/signup_done.html")


@require_GET
def confirm(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """Activate the user named by a link from SignUpConfirmationEmailJob.

    Responds 400 with an explanation when the user id or the token is
    invalid or expired. A valid link for an active user shows the success
    page again. The first confirmation enqueues a welcome email.
    """
    user = user_from_uidb64(uidb64)
    if user is None or not confirmation_token_generator.check_token(user, token):
        return render(request, "blog/confirm_invalid.html", status=400)

    already_active = user.is_active
    if not already_active:
        with transaction.atomic():
            user.is_active = True
            user.save(update_fields=["is_active"])
            # MailDeliveryJob goes to the "mailers" queue, which the Procfile's worker takes too.
            deliver_later(welcome_email(user))
    context = {"confirmed_user": user, "already_active": already_active}
    return render(request, "blog/confirm_done.html", context)


def user_from_uidb64(uidb64: str):
    """Return the user whose primary key ``uidb64`` encodes, or None."""
    User = get_user_model()
    try:
        pk = urlsafe_base64_decode(uidb64).decode()
        return User._default_manager.get(pk=pk)
    except (TypeError, ValueError, OverflowError, ValidationError, User.DoesNotExist):
        return None
