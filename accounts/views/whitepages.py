"""Whitepages: signed-in people look up colleagues by name or department."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from accounts.forms import WhitepagesSearchForm
from accounts.selectors import people_search

PER_PAGE = 25


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
