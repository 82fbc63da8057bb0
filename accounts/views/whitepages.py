"""Whitepages: signed-in people look up colleagues by name or department."""

from __future__ import annotations

from django import forms
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from accounts.selectors import QUERY_MAX_LENGTH, people_search

PER_PAGE = 25
TOO_LONG = f"Enter at most {QUERY_MAX_LENGTH} characters."


class WhitepagesSearchForm(forms.Form):
    """The search box and the optional department filter (GET, so results can be linked)."""

    q = forms.CharField(
        label="Name or department",
        required=False,
        max_length=QUERY_MAX_LENGTH,
        help_text='The start of a name ("smi", "Ana Sm", "Smith, A") or of a department.',
        error_messages={"max_length": TOO_LONG},
    )
    department = forms.CharField(
        label="Department",
        required=False,
        max_length=QUERY_MAX_LENGTH,
        help_text="Only people whose department starts with this.",
        error_messages={"max_length": TOO_LONG},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})
        self.fields["q"].widget.input_type = "search"


@require_safe
@never_cache
def whitepages(request):
    form = WhitepagesSearchForm(request.GET or None)
    page = page_numbers = None
    if form.is_bound and form.is_valid():
        query, department = form.cleaned_data["q"], form.cleaned_data["department"]
        if query or department:
            paginator = Paginator(people_search(query=query, department=department), PER_PAGE)
            page = paginator.get_page(request.GET.get("page"))
            page_numbers = paginator.get_elided_page_range(page.number, on_each_side=2)
    return render(
        request,
        "accounts/whitepages.html",
        {"form": form, "page": page, "page_numbers": page_numbers},
    )
