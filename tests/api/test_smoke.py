from __future__ import annotations


async def test_add_and_search(client, cube):
    cid = cube["id"]
    r = await client.post(
        f"/v1/cubes/{cid}/memories",
        json={"items": [{"content": "Alice adopted a beagle named Rex", "session_id": "s1"},
                        {"content": "The weather in Paris was rainy", "session_id": "s1"}]},
    )
    assert r.status_code == 201, r.text
    for mode in ("lexical", "dense", "hybrid"):
        s = await client.post(f"/v1/cubes/{cid}/search", json={"query": "Alice's dog", "mode": mode})
        assert s.status_code == 200, s.text
        print(mode, s.json()["results"][0]["memory"]["content"], s.json()["results"][0]["scores"])
