"""Valomnia specifics: the Spring-Security session login and a keyset scan on lastUpdated.

Why keyset and not offsets: the list is sorted by lastUpdated, so an appointment updated
while the sync pages moves to the end and every later row moves one place forward; a
growing offset then skips one row for good. Each page here is a fresh query starting at the
greatest lastUpdated already read, so nothing before it can shift what comes next.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlparse

import httpx
import orjson
import pyarrow as pa
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from pipelines.arrow_resource import DriftError, JsonRecords, ScanIds
from pipelines.http import (
    MAX_RETRY_AFTER_SECONDS,
    RETRYABLE_STATUSES,
    ApiClient,
    ApiError,
    AuthError,
    default_error_message,
    get_logger,
    parse_retry_after,
    redactor,
)
from pipelines.records import PageSplitter
from pipelines.valomnia.settings import (
    FILTER_PARAMS,
    LOGIN_PATH,
    LOGIN_SUCCESS_PATH,
    SESSION_COOKIE,
    SORT_FIELD,
)

logger = get_logger("apptsync.valomnia")

KEY = "sources.valomnia"
_LOGIN_PAGE = re.compile(r"(^|/)(login|j_spring_security_check)(/|$)")


class _LoginUnavailable(Exception):
    """Internal signal: the login endpoint failed in a way another attempt may fix."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- auth -------------------------------------------------------------------------------------


class SessionAuth:
    """Spring-Security form login; the JSESSIONID is kept here and sent as a Cookie header.

    The cookie is not left in the HTTP client's jar: this object alone decides which session
    a request carries, so `invalidate` can tell a stale session from a fresh one even when
    requests run on several threads.
    """

    def __init__(self, base_url: str, username: str, password: str, max_attempts: int = 4) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self.max_attempts = max_attempts
        self._session: str | None = None
        self._lock = threading.Lock()
        self.logins = 0
        redactor.add(password)

    def headers(self, client: httpx.Client) -> dict[str, str]:
        with self._lock:
            if self._session is None:
                self._session = self._login(client)
                self.logins += 1
            return {"Cookie": f"{SESSION_COOKIE}={self._session}"}

    def is_rejected(self, response: httpx.Response) -> bool:
        """A 401, or a redirect to the login page (Spring's answer to an expired session)."""
        if response.status_code == 401:
            return True
        return response.is_redirect and is_login_location(response.headers.get("Location", ""))

    def invalidate(self, rejected_headers: Mapping[str, str]) -> None:
        with self._lock:
            if rejected_headers.get("Cookie") == f"{SESSION_COOKIE}={self._session}":
                self._session = None

    def _login(self, client: httpx.Client) -> str:
        url = self.base_url + LOGIN_PATH
        try:
            response = self._post_login(client, url)
            problem = None
        except (httpx.TransportError, _LoginUnavailable) as exc:
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if problem is not None:  # raised outside the except: this is the message to read
            raise ApiError(
                f"cannot log in to Valomnia at {self.base_url} after {self.max_attempts} "
                f"attempts ({problem}); check config key '{KEY}.base_url'",
                url=LOGIN_PATH,
            )
        token = response.cookies.get(SESSION_COOKIE)
        # The session lives in this object, not in the client's shared cookie jar.
        client.cookies.delete(SESSION_COOKIE)
        location = response.headers.get("Location", "") if response.is_redirect else ""
        if not _is_success_location(location):
            raise self._refused(client, response, url)
        if not token:
            token = self._token_from_success_page(client, location)
        redactor.add(token)
        logger.info("logged in to Valomnia as %s", self.username)
        return token

    def _post_login(self, client: httpx.Client, url: str) -> httpx.Response:
        """The form post, retried on transport errors, 429 (honouring Retry-After) and 5xx."""

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _LoginUnavailable) and error.retry_after is not None:
                return min(error.retry_after, MAX_RETRY_AFTER_SECONDS)
            return float(wait_exponential_jitter(initial=0.5, max=10)(state))

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait,
            retry=retry_if_exception_type((httpx.TransportError, _LoginUnavailable)),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                response = client.post(
                    url,
                    data={
                        "j_username": self.username,
                        "j_password": self._password,
                        "ajax": "true",
                    },
                    headers={"Accept": "application/json"},
                )
                if response.status_code in RETRYABLE_STATUSES:
                    raise _LoginUnavailable(
                        f"login answered {response.status_code}",
                        parse_retry_after(response.headers.get("Retry-After")),
                    )
        return response

    def _token_from_success_page(self, client: httpx.Client, location: str) -> str:
        """No cookie on the redirect: `/login/ajaxSuccess` answers `{success, token, user}`."""
        response = client.get(
            urljoin(self.base_url + "/", location), headers={"Accept": "application/json"}
        )
        client.cookies.delete(SESSION_COOKIE)
        token = response.cookies.get(SESSION_COOKIE)
        if token:
            return token
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict) and body.get("success") and isinstance(body.get("token"), str):
            return str(body["token"])
        raise AuthError(
            f"Valomnia accepted the login of '{self.username}' but sent no {SESSION_COOKIE} "
            "session cookie or token",
            status=response.status_code,
            url=LOGIN_SUCCESS_PATH,
        )

    def _refused(self, client: httpx.Client, response: httpx.Response, url: str) -> AuthError:
        detail = redactor.redact(default_error_message(response))
        location = response.headers.get("Location") if response.is_redirect else None
        if location:
            # Spring answers wrong credentials with a redirect to /login/authfail?ajax=true,
            # whose JSON says why; fall back to naming the redirect.
            detail = f"redirected to {location}"
            try:
                failure = client.get(
                    urljoin(self.base_url + "/", location), headers={"Accept": "application/json"}
                )
                if failure.headers.get("Content-Type", "").startswith("application/json"):
                    detail = redactor.redact(default_error_message(failure))
            except httpx.HTTPError:
                pass
        return AuthError(
            f"Valomnia refused the login of '{self.username}' ({detail}); check config keys "
            f"'{KEY}.username' and '{KEY}.password'",
            status=response.status_code,
            url=urlparse(url).path,
        )


def is_login_location(location: str) -> bool:
    """Whether a redirect points at the login page (but not at the login's success page)."""
    path = urlparse(location).path
    return bool(_LOGIN_PAGE.search(path)) and not _is_success_location(location)


def _is_success_location(location: str) -> bool:
    return urlparse(location).path.rstrip("/").endswith(LOGIN_SUCCESS_PATH)


# --- pages ------------------------------------------------------------------------------------


_SPLITTER = PageSplitter("paging", "id", SORT_FIELD)


@dataclass
class Page:
    """One page: the records as the JSON text the API sent (kept verbatim for quarantine),
    with the id and lastUpdated second of each (None when it has no usable one)."""

    offset: int
    records: list[bytes]
    ids: list[int | None]
    stamps: list[int | None]
    total: int


_INTEGER = re.compile(r"-?[0-9]+")


def integer_id(value: Any) -> int | None:
    """The integer id of a record, or None when it has none (it will be quarantined).
    The same rule as the loader's (`BatchReader._id_cast`): a JSON integer, or text of
    ASCII digits with an optional minus, so the keyset and the warehouse agree on ids."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    return None


def fetch_page(
    client: ApiClient, path: str, params: Sequence[tuple[str, str]], offset: int, limit: int
) -> Page:
    """One page of `GET /appointments`; a 400 names the parameter and where it comes from."""
    query = [*params, ("max", str(limit)), ("offset", str(offset))]
    try:
        body = client.get_json(path, query, _SPLITTER.split)
    except ApiError as exc:
        if exc.status != 400:
            raise
        rejected = explain_rejection(exc, query)
    else:
        rejected = None
    if rejected is not None:
        raise rejected  # outside the except block: this is the error a user should read
    if body is None:
        raise ApiError(
            f"GET {path} at offset {offset}: response has no data list and paging object"
        )
    total = body.envelope.get("total")
    if not isinstance(total, int) or isinstance(total, bool):
        raise ApiError(f"GET {path} at offset {offset}: paging.total is missing")
    ids = [integer_id(rid) for rid in body.ids]
    return Page(offset, body.records, ids, [to_second(c) for c in body.cursors], total)


_PARAM_ORIGINS = {
    **{api: f"config key '{KEY}.{key}'" for key, api in FILTER_PARAMS.items()},
    "max": f"config key '{KEY}.page_size'",
    "lastUpdated_gte": "the incremental cursor in the state of dlt pipeline 'valomnia'",
    "lastUpdated_lte": "the keyset scan of one second",
    "sort": "the source itself",
    "order": "the source itself",
    "offset": "the source itself",
}


def explain_rejection(exc: ApiError, query: Sequence[tuple[str, str]]) -> ApiError:
    """A 400 (`invalid_param`, `invalid_datetime_format`) restated with the parameter at fault."""
    text = str(exc.args[0])
    mentioned = {m.strip() for group in re.findall(r"\[([^\]]*)\]", text) for m in group.split(",")}
    culprits = [
        f"{name}={value} (from {_PARAM_ORIGINS.get(name, 'the source itself')})"
        for name, value in query
        if name in mentioned or value in mentioned
    ]
    api_text = text.split(" failed: ", 1)[-1].rsplit(" (status ", 1)[0]
    blame = f"; parameter {', '.join(culprits)}" if culprits else ""
    return ApiError(
        f"Valomnia rejected the request: {api_text}{blame}",
        status=exc.status,
        correlation_id=exc.correlation_id,
        url=exc.url,
    )


# --- the keyset scan --------------------------------------------------------------------------


def iso_second(second: int) -> str:
    """Valomnia's only date format: YYYY-MM-DDTHH:MM:SSZ."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


def to_second(value: Any) -> int | None:
    """Epoch second of a date-time (floored; naive means UTC), or None when unparsable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())


Fresh = tuple[bytes, int | None]  # a record's JSON text and its id


@dataclass
class ScanStats:
    """What a scan did, for logs and tests."""

    requests: int = 0
    records: int = 0
    single_seconds: int = 0
    repaged_seconds: int = 0


class KeysetScan:
    """Every appointment with lastUpdated >= `since`, each version once, in lastUpdated order.

    Each request restarts at the greatest lastUpdated read so far (`lastUpdated_gte`, offset
    0) and skips the ids already read at that second, so only the ids of one second are held.
    A second with more rows than fit in a page is paged alone with offsets
    (`lastUpdated_gte` = `lastUpdated_lte`); if its `paging.total` shrinks between two pages,
    rows left it and others shifted forward, so it is paged again (bounded).
    """

    def __init__(
        self,
        client: ApiClient,
        path: str,
        params: Sequence[tuple[str, str]],
        *,
        page_size: int,
        since: int | None,
        max_passes: int,
    ) -> None:
        self.client = client
        self.path = path
        self.params = [*params, ("sort", SORT_FIELD), ("order", "asc")]
        self.page_size = page_size
        self.since = since
        self.max_passes = max_passes
        self.stats = ScanStats()
        self._odd: set[bytes] = set()  # rows without a usable lastUpdated, already read

    def _fetch(self, bounds: list[tuple[str, str]], offset: int) -> Page:
        self.stats.requests += 1
        return fetch_page(self.client, self.path, [*self.params, *bounds], offset, self.page_size)

    def _fresh(self, page: Page, second: int | None, seen: set[int | bytes]) -> list[Fresh]:
        """Records not read before: those at `second` checked against `seen` (which grows)."""
        out = []
        for record, rid, at in zip(page.records, page.ids, page.stamps, strict=True):
            if at is None:
                # Its place in the order is unknown: remember its content (it is quarantined).
                if record in self._odd:
                    continue
                self._odd.add(record)
            elif at == second:
                key = record if rid is None else rid
                if key in seen:
                    continue
                seen.add(key)
            out.append((record, rid))
        self.stats.records += len(out)
        return out

    def pages(self) -> Iterator[list[Fresh]]:
        """The new records of each page, in order."""
        boundary = self.since
        seen: set[int | bytes] = set()  # ids read at second `boundary`
        while True:
            bounds = [] if boundary is None else [("lastUpdated_gte", iso_second(boundary))]
            page = self._fetch(bounds, 0)
            yield self._fresh(page, boundary, seen)
            if not page.records or len(page.records) >= page.total:
                return
            seconds = [s for s in page.stamps if s is not None]
            if not seconds:
                raise ApiError(
                    f"GET {self.path}: a full page of {len(page.records)} appointments without "
                    "a valid lastUpdated; cannot page on lastUpdated"
                )
            low, high = min(seconds), max(seconds)
            if boundary is not None and low < boundary:
                raise ApiError(
                    f"GET {self.path}: lastUpdated_gte={iso_second(boundary)} answered rows "
                    f"updated at {iso_second(low)}; the API ignores the filter"
                )
            at_high = {
                record if rid is None else rid
                for record, rid, at in zip(page.records, page.ids, page.stamps, strict=True)
                if at == high
            }
            if low == high:
                # The whole page is one second: it may hold more rows than a page.
                known = (seen if high == boundary else set()) | at_high
                yield from self._one_second(high, known)
                boundary, seen = high + 1, set()
            else:
                boundary, seen = high, at_high

    def _one_second(self, second: int, seen: set[int | bytes]) -> Iterator[list[Fresh]]:
        """Every row of one second by offset, paged again if rows leave it meanwhile."""
        self.stats.single_seconds += 1
        stamp = iso_second(second)
        bounds = [("lastUpdated_gte", stamp), ("lastUpdated_lte", stamp)]
        for number in range(1, self.max_passes + 1):
            offset, previous, shrunk = 0, None, False
            while True:
                page = self._fetch(bounds, offset)
                if previous is not None and page.total < previous:
                    shrunk = True
                previous = page.total
                if any(s is not None and s != second for s in page.stamps):
                    raise ApiError(
                        f"GET {self.path}: lastUpdated_gte=lastUpdated_lte={stamp} answered rows "
                        "of other seconds; the API ignores the filter"
                    )
                yield self._fresh(page, second, seen)
                offset += len(page.records)
                if shrunk or not page.records or offset >= page.total:
                    break
            if not shrunk:
                return
            self.stats.repaged_seconds += 1
            logger.warning(
                "rows left lastUpdated=%s while it was paged (pass %d of %d); paging it again",
                stamp,
                number,
                self.max_passes,
            )
        raise DriftError(
            f"rows kept leaving lastUpdated={stamp} while it was paged ({self.max_passes} "
            "passes); nothing was loaded and the cursor did not move"
        )


def scan(
    client: ApiClient,
    path: str,
    params: Sequence[tuple[str, str]],
    *,
    page_size: int,
    since: int | None,
    batch_records: int,
    max_passes: int,
    complete: bool,
) -> Iterator[JsonRecords | ScanIds]:
    """Batches of records from a keyset scan; with `complete`, then every id it saw."""
    keyset = KeysetScan(
        client, path, params, page_size=page_size, since=since, max_passes=max_passes
    )
    ids: set[int] | None = set() if complete else None
    batch: list[bytes] = []
    for fresh in keyset.pages():
        batch.extend(record for record, _ in fresh)
        if ids is not None:
            ids.update(rid for _, rid in fresh if rid is not None)
        if len(batch) >= batch_records:
            yield JsonRecords(pa.array(batch, pa.string()))
            batch = []
    if batch:
        yield JsonRecords(pa.array(batch, pa.string()))
    logger.info(
        "scanned %s: %d records in %d requests (%d crowded seconds, %d paged again)",
        path,
        keyset.stats.records,
        keyset.stats.requests,
        keyset.stats.single_seconds,
        keyset.stats.repaged_seconds,
    )
    if ids is not None:
        yield ScanIds(sorted(ids))
