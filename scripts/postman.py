#!/usr/bin/env python3
"""The Postman collection for DIGIT users, generated from docs/openapi.json.

It holds a folder "Login, details, logout" — create an employee, log in with DIGIT's client, ask /user/_details
with the access token, log out, and see the token refused — whose requests check their answers (newman runs it
in scripts/fuzz-gate.sh), then one folder per tag of the description with a request per operation, its body
an example built from the schema. Variables: baseUrl (public listener), internalUrl (internal listener),
tenantId, clientAuth (DIGIT's HTTP Basic client).

Usage: scripts/postman.py            writes docs/digit-user.postman_collection.json
       scripts/postman.py --check    fails when the committed file is not what the description generates
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "openapi.json"
OUT = ROOT / "docs" / "digit-user.postman_collection.json"
CLIENT = "Basic ZWdvdi11c2VyLWNsaWVudDo="  # egov-user-client with an empty secret, as DIGIT's clients send
INTERNAL_TAGS = {"admin", "cluster"}


def example(spec, schema, depth=0):
    """A value of `schema`: the first choice of a oneOf, every property of an object, one array item."""
    if depth > 6:
        return None
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return example(spec, spec["components"]["schemas"][name], depth + 1)
    if "oneOf" in schema:
        return example(spec, schema["oneOf"][0], depth + 1)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {k: example(spec, v, depth + 1) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [example(spec, schema.get("items", {}), depth + 1)]
    return {"string": "", "integer": 0, "number": 0, "boolean": False, "null": None}[kind]


def request(method, base, path, body=None, form=None, query=None, auth=False, tests=None, name=None):
    url = {"raw": "{{" + base + "}}" + path, "host": ["{{" + base + "}}"],
           "path": [p for p in path.split("/") if p]}
    if query:
        url["query"] = [{"key": k, "value": v} for k, v in query]
        url["raw"] += "?" + "&".join(f"{k}={v}" for k, v in query)
    headers = []
    if auth:
        headers.append({"key": "Authorization", "value": "{{clientAuth}}"})
    item = {"name": name or f"{method.upper()} {path}",
            "request": {"method": method.upper(), "header": headers, "url": url}}
    if body is not None:
        headers.append({"key": "Content-Type", "value": "application/json"})
        item["request"]["body"] = {"mode": "raw", "raw": json.dumps(body, indent=2),
                                   "options": {"raw": {"language": "json"}}}
    if form is not None:
        item["request"]["body"] = {"mode": "urlencoded",
                                   "urlencoded": [{"key": k, "value": v} for k, v in form]}
    if tests:
        item["event"] = [{"listen": "test", "script": {"type": "text/javascript", "exec": tests}}]
    return item


def flow():
    """Create an employee, log in, details, log out, details refused: each answer checked."""
    employee = {
        "RequestInfo": {},
        "user": {"userName": "{{userName}}", "name": "Postman Employee", "mobileNumber": "9876543210",
                 "password": "Postman@123", "type": "EMPLOYEE", "tenantId": "{{tenantId}}", "active": True,
                 "roles": [{"code": "EMPLOYEE", "tenantId": "{{tenantId}}"}]},
    }
    created = request("post", "baseUrl", "/user/users/_createnovalidate", body=employee, name="Create an employee",
                      tests=["pm.test('created', () => pm.response.to.have.status(200));",
                             "pm.test('the userName', () => pm.expect(pm.response.json().user[0].userName)"
                             ".to.eql(pm.collectionVariables.get('userName')));"])
    created["event"].append({"listen": "prerequest", "script": {"type": "text/javascript", "exec": [
        "pm.collectionVariables.set('userName', 'EMP-POSTMAN-' + Date.now());"]}})
    login = request("post", "baseUrl", "/user/oauth/token", auth=True, name="Log in",
                    form=[("grant_type", "password"), ("username", "{{userName}}"), ("password", "Postman@123"),
                          ("tenantId", "{{tenantId}}"), ("userType", "EMPLOYEE"), ("scope", "read")],
                    tests=["pm.test('logged in', () => pm.response.to.have.status(200));",
                           "pm.collectionVariables.set('accessToken', pm.response.json().access_token);",
                           "pm.collectionVariables.set('refreshToken', pm.response.json().refresh_token);"])
    details = request("post", "baseUrl", "/user/_details", query=[("access_token", "{{accessToken}}")],
                      name="The user of the token",
                      tests=["pm.test('details', () => pm.response.to.have.status(200));",
                             "pm.test('the same user', () => pm.expect(pm.response.json().userName)"
                             ".to.eql(pm.collectionVariables.get('userName')));"])
    logout = request("post", "baseUrl", "/user/_logout", body={"access_token": "{{accessToken}}"}, name="Log out",
                     tests=["pm.test('logged out', () => pm.response.to.have.status(200));",
                            "pm.test('status', () => pm.expect(pm.response.json().status)"
                            ".to.eql('Logout successfully'));"])
    refused = request("post", "baseUrl", "/user/_details", query=[("access_token", "{{accessToken}}")],
                      name="The token is refused after the logout",
                      tests=["pm.test('refused', () => pm.response.to.have.status(400));",
                             "pm.test('InvalidAccessTokenException', () => pm.expect("
                             "pm.response.json().Errors[0].code).to.eql('InvalidAccessTokenException'));"])
    return {"name": "Login, details, logout",
            "description": "DIGIT's login flow end to end; each request checks its answer.",
            "item": [created, login, details, logout, refused]}


def collection(spec):
    folders = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            tag = (op.get("tags") or ["other"])[0]
            base = "internalUrl" if tag in INTERNAL_TAGS else "baseUrl"
            content = op.get("requestBody", {}).get("content", {})
            body = form = None
            if "application/json" in content:
                body = example(spec, content["application/json"]["schema"])
            elif "application/x-www-form-urlencoded" in content:
                fields = example(spec, content["application/x-www-form-urlencoded"]["schema"])
                form = [(k, "" if v is None else str(v)) for k, v in fields.items()]
            query = [(p["name"], "") for p in op.get("parameters", []) if p["in"] == "query"]
            entry = request(method, base, path, body=body, form=form, query=query or None,
                            auth=path == "/user/oauth/token", name=op.get("summary"))
            folders.setdefault(tag, []).append(entry)
    tags = {t["name"]: t.get("description", "") for t in spec.get("tags", [])}
    return {
        "info": {"name": "digit-user", "description": spec["info"]["description"],
                 "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
        "variable": [{"key": "baseUrl", "value": "http://127.0.0.1:8080"},
                     {"key": "internalUrl", "value": "http://127.0.0.1:8081"},
                     {"key": "tenantId", "value": "pb.amritsar"},
                     {"key": "clientAuth", "value": CLIENT},
                     {"key": "userName", "value": ""},
                     {"key": "accessToken", "value": ""},
                     {"key": "refreshToken", "value": ""}],
        "item": [flow()] + [{"name": tag, "description": tags.get(tag, ""), "item": items}
                            for tag, items in folders.items()],
    }


def main():
    text = json.dumps(collection(json.loads(SPEC.read_text())), indent=2, ensure_ascii=False) + "\n"
    if sys.argv[1:] == ["--check"]:
        if not OUT.exists() or OUT.read_text() != text:
            sys.exit(f"{OUT.relative_to(ROOT)} is not what docs/openapi.json generates: run scripts/postman.py")
        return
    OUT.write_text(text)


if __name__ == "__main__":
    main()
