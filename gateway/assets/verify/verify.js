"use strict";
// The verification page: a clerk drops, picks or pastes a certificate (POST
// /v1/certificates/verify, no login), or, logged in as an approver, looks one up by its
// identifier or its holder's code with the purpose of the lookup (GET /v1/certificates/{id},
// GET /v1/certificates?holder_code=…; routed across tiers and audited by the node). Every
// check of the verdict is one line with its result and a plain-language reason, in Chinese or
// English. No library; nothing is loaded from elsewhere (the Content-Security-Policy forbids
// it). What is shown can be read back: #result carries data-state, data-valid,
// data-identifier and data-served-by; each check is an li[data-check][data-result]; each
// field a dd[data-field].
(() => {
  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------------------------------
  // Words, in both languages.

  const STR = {
    zh: {
      title: "电子证照核验", node: "核验节点", not_logged_in: "未登录", logout: "退出登录",
      file_title: "核验证照文件",
      file_hint: "申请人出示的电子证照文件（JSON）。无需登录；文件只发给本节点核验，不会保存。",
      drop: "将证照文件拖放到此处，或点击选择文件", paste: "或粘贴证照内容（JSON）", verify: "核验",
      lookup_title: "联网查询证照",
      lookup_hint: "按证照标识或持证主体代码查询，由持有该证照的节点作答。每次查询须选择申请事由，并记入审计日志。须以审批人员身份登录。",
      username: "用户名", password: "密码", login: "登录", purpose: "申请事由", purpose_text: "事由说明",
      by_id: "证照标识", by_holder: "持证主体代码（身份证号或统一社会信用代码）", search: "查询",
      id_placeholder: "例如 1.2.156.3005.2.…", holder_placeholder: "例如 91621002MA7100001H",
      placeholder: "核验结果将显示在这里：证照信息，以及每一项检查的结论和原因。",
      footer: "核验依据：W3C 可验证凭证数据完整性签名（eddsa-jcs-2022）、本网络信任清单、证照状态列表和签发节点的透明日志。本页所有内容均由本节点提供，不连接互联网。",
      logged_in_as: (who) => `已登录：${who}`,
      roles: { approver: "审批人员", supervisor: "监察人员", operator: "运维人员" },
      by_certificate: "数字证书",
      working: "正在核验…", searching: "正在查询…",
      valid: "证照有效", invalid: "证照无效", revoked: "证照已吊销", suspended: "证照已挂失（暂停使用）",
      tampered: "证照内容被改动或签名无效", expired: "证照已过期", not_yet: "证照尚未生效",
      untrusted: "签发者不可信",
      all_passed: (n) => `全部 ${n} 项检查通过。`,
      some_skipped: (p, s) => `${p} 项检查通过，${s} 项未能进行（原因见下）。`,
      do_not_rely: "请勿采信此证照。",
      info: "证照信息", checks: "核验项目",
      f_type: "证照类型", f_number: "证照编号", f_holder: "持证主体", f_authority: "发证机关",
      f_issue_date: "颁发日期", f_validity: "有效期", f_issuer: "签发节点", f_identifier: "证照标识",
      f_version: "版本", f_jurisdiction: "所属区划",
      surface: (n) => `证面信息（${n} 项）`,
      until: "至", indefinite: "长期",
      withheld: "未获授权查看（共享授权不含此项）",
      code_types: { "111": "居民身份证", "001": "统一社会信用代码" },
      code_type: (t) => `证件类型 ${t}`,
      result: { pass: "通过", fail: "未通过", skipped: "未检查" },
      qr: "扫码在本节点核验此证照", qr_alt: "核验二维码",
      from_file: (node) => `核验方式：证照文件，由本节点（${node}）核验。`,
      from_lookup: (node, when) => `核验方式：联网查询，由节点 ${node} 作答并核验；查询已记入审计日志。${when}`,
      at: (t) => `核验时间：${t}。`,
      check_online: "联网核查最新状态", need_login_for_online: "登录后可按证照标识联网核查最新状态。",
      skipped_note: "未检查的项目不影响结论，但说明本次核验没有该项证据。",
      holder_results: (n, code) => `持证主体 ${code} 名下证照 ${n} 项`,
      holder_withheld: (n) => `另有 ${n} 项证照因共享授权所限未显示。`,
      holder_none: "没有找到该持证主体名下的证照。",
      open: "核验", served_by: (node) => `由节点 ${node} 作答；查询已记入审计日志。`,
      bad_file: "文件不是电子证照（JSON）：", empty: "请先选择文件或粘贴证照内容。",
      need_id: "请输入证照标识。", need_holder: "请输入持证主体代码。",
      need_purpose_text: "该申请事由须填写事由说明。",
      request_failed: "请求失败", network: "无法连接本节点，请检查网络后重试。",
      login_failed: "登录失败：用户名或密码错误，或账户已停用。",
    },
    en: {
      title: "Certificate verification", node: "Verifying node", not_logged_in: "Not logged in", logout: "Log out",
      file_title: "Verify a certificate file",
      file_hint: "The electronic certificate file (JSON) the applicant presents. No login needed; the file goes only to this node to be checked, and is not kept.",
      drop: "Drop the certificate file here, or click to choose it", paste: "Or paste the certificate (JSON)", verify: "Verify",
      lookup_title: "Look a certificate up",
      lookup_hint: "By certificate identifier or by holder code; the node holding the certificate answers. Every lookup states its purpose and is recorded in the audit trail. Log in as an approver.",
      username: "User name", password: "Password", login: "Log in", purpose: "Purpose of the lookup", purpose_text: "Reason",
      by_id: "Certificate identifier", by_holder: "Holder code (identity number or unified social credit code)", search: "Look up",
      id_placeholder: "e.g. 1.2.156.3005.2.…", holder_placeholder: "e.g. 91621002MA7100001H",
      placeholder: "The result appears here: the certificate's details, and each check with its outcome and the reason.",
      footer: "Checked with: W3C Verifiable Credential Data Integrity signatures (eddsa-jcs-2022), this network's trust list, the certificate status lists and the issuing node's transparency log. Everything on this page comes from this node; nothing is loaded from the internet.",
      logged_in_as: (who) => `Logged in: ${who}`,
      roles: { approver: "approver", supervisor: "supervisor", operator: "operator" },
      by_certificate: "certificate",
      working: "Verifying…", searching: "Looking up…",
      valid: "Certificate valid", invalid: "Certificate NOT valid", revoked: "Certificate revoked", suspended: "Certificate suspended (reported lost)",
      tampered: "Certificate altered or signature invalid", expired: "Certificate expired", not_yet: "Certificate not yet valid",
      untrusted: "Issuer not trusted",
      all_passed: (n) => `All ${n} checks passed.`,
      some_skipped: (p, s) => `${p} checks passed; ${s} could not be made (see below).`,
      do_not_rely: "Do not rely on this certificate.",
      info: "Certificate", checks: "Checks",
      f_type: "Type", f_number: "Number", f_holder: "Holder", f_authority: "Issuing authority",
      f_issue_date: "Issue date", f_validity: "Valid", f_issuer: "Issued by node", f_identifier: "Identifier",
      f_version: "Version", f_jurisdiction: "Region",
      surface: (n) => `Printed fields (${n})`,
      until: "to", indefinite: "no end date",
      withheld: "not disclosed (your sharing grant does not include it)",
      code_types: { "111": "resident identity card", "001": "unified social credit code" },
      code_type: (t) => `document type ${t}`,
      result: { pass: "pass", fail: "FAIL", skipped: "not checked" },
      qr: "Scan to verify this certificate at this node", qr_alt: "verification QR code",
      from_file: (node) => `Checked from the certificate file by this node (${node}).`,
      from_lookup: (node, when) => `Looked up online: node ${node} answered and checked it; the lookup is in the audit trail. ${when}`,
      at: (t) => `Checked at ${t}.`,
      check_online: "Check the current status online", need_login_for_online: "Log in to check its current status online by identifier.",
      skipped_note: "A check that was not made does not change the result, but this verification has no evidence for it.",
      holder_results: (n, code) => `${n} certificate(s) of holder ${code}`,
      holder_withheld: (n) => `${n} more withheld by the sharing policy.`,
      holder_none: "No certificates found for this holder.",
      open: "Verify", served_by: (node) => `Answered by node ${node}; the lookup is in the audit trail.`,
      bad_file: "The file is not an electronic certificate (JSON): ", empty: "Choose a file or paste the certificate first.",
      need_id: "Enter a certificate identifier.", need_holder: "Enter the holder's code.",
      need_purpose_text: "This purpose needs a reason.",
      request_failed: "Request failed", network: "Cannot reach this node; check the network and try again.",
      login_failed: "Login failed: wrong user name or password, or the account is not active.",
    },
  };

  // The five checks of the verdict, in order, with what each result means in plain words.
  const CHECKS = [
    ["signature", {
      zh: ["电子签名", {
        pass: "签名完整有效：证照内容自签发以来没有被改动。",
        fail: "签名与内容不符：证照在签发后被改动过，或签名已损坏。",
        skipped: "未能核验签名。",
      }],
      en: ["Digital signature", {
        pass: "The signature is intact: nothing in the certificate has changed since it was issued.",
        fail: "The signature does not match the content: the certificate was changed after it was issued, or the signature is damaged.",
        skipped: "The signature could not be checked.",
      }],
    }],
    ["issuer_trusted", {
      zh: ["签发机构与密钥", {
        pass: "由本网络登记的政务数据交换节点签发，签名所用密钥在签发时有效。",
        fail: "签发者或其密钥不在本网络的信任清单中，或签名时密钥已失效。",
        skipped: "本节点没有信任清单，无法确认签发者。",
      }],
      en: ["Trusted issuer and key", {
        pass: "Issued by a registered node of this network, with a key that was in force when it signed.",
        fail: "The issuer or its key is not on this network's trust list, or the key was not in force when it signed.",
        skipped: "This node has no trust list to confirm the issuer.",
      }],
    }],
    ["in_validity_period", {
      zh: ["有效期", {
        pass: "今天在证照的有效期内。",
        fail: "今天不在证照的有效期内。",
        skipped: "未能确认有效期。",
      }],
      en: ["Validity period", {
        pass: "Today is within the certificate's validity period.",
        fail: "Today is outside the certificate's validity period.",
        skipped: "The validity period could not be checked.",
      }],
    }],
    ["not_revoked", {
      zh: ["证照状态（吊销、挂失）", {
        pass: "发证部门没有吊销，也没有挂失（暂停）此证照。",
        fail: "发证部门已吊销或挂失此证照。",
        skipped: "本节点不掌握此证照的当前状态（它由其他节点签发）。",
      }],
      en: ["Revocation status", {
        pass: "The issuing department has neither revoked nor suspended it.",
        fail: "The issuing department has revoked or suspended it.",
        skipped: "This node does not hold the certificate's current status (another node issued it).",
      }],
    }],
    ["logged", {
      zh: ["透明日志存证", {
        pass: "签发节点的公开日志收录了此证照，并经其他节点见证：签发记录无法被悄悄改写。",
        fail: "签发节点的日志证明与此证照不符。",
        skipped: "暂无日志证明：证照刚签发、尚未经见证，或由其他节点签发。",
      }],
      en: ["Transparency-log inclusion", {
        pass: "The issuing node's public log includes it, witnessed by another node: the record of its issue cannot be quietly rewritten.",
        fail: "The issuing node's log proof does not match this certificate.",
        skipped: "No log proof yet: just issued and not witnessed yet, or issued by another node.",
      }],
    }],
  ];

  // Reasons more precise than the check's, by the verdict's error code.
  const REASONS = {
    "proof.missing": ["证照没有签名。", "The certificate carries no signature."],
    "proof.signature": ["签名与内容不符：证照在签发后被改动过。", "The signature does not match the content: the certificate was changed after it was issued."],
    "proof.malformed": ["签名格式错误。", "The signature is malformed."],
    "credential.malformed": ["文件不是完整的电子证照。", "The file is not a complete electronic certificate."],
    "trust.key_unknown": ["签名密钥不在本网络的信任清单中。", "The signing key is not on this network's trust list."],
    "trust.key_revoked": ["签名密钥已被撤销。", "The signing key has been revoked."],
    "trust.key_expired": ["签名时密钥已过期。", "The key had expired when it signed."],
    "trust.key_not_yet_valid": ["签名时密钥尚未生效。", "The key was not yet in force when it signed."],
    "trust.node_mismatch": ["证照所称的签发节点与签名密钥的持有节点不一致。", "The node the certificate names is not the node that holds the signing key."],
    "validity.expired": ["证照已过有效期。", "The certificate has expired."],
    "validity.not_yet_valid": ["证照尚未到生效日期。", "The certificate is not valid yet."],
    "status.revoked": ["发证部门已吊销此证照（吊销不可撤回）。", "The issuing department has revoked it (revocation is final)."],
    "status.suspended": ["此证照已挂失，暂停使用。", "It has been reported lost and is suspended."],
    "log.not_included": ["签发节点的日志中没有此证照。", "The issuing node's log does not include it."],
    "log.not_cosigned": ["日志检查点未经其他节点见证。", "The log checkpoint has not been witnessed by another node."],
  };

  // Problems the API answers, in plain words.
  const PROBLEMS = {
    "auth.required": ["请先登录。", "Log in first."],
    "auth.bad_credentials": ["用户名或密码错误，或账户已停用。", "Wrong user name or password, or the account is not active."],
    "auth.role": ["您的角色不能进行此查询（须为审批或监察人员）。", "Your role may not make this lookup (approvers and supervisors only)."],
    "audit.purpose_required": ["请选择申请事由（如须说明，请填写事由说明）。", "Choose the purpose (and give the reason where asked)."],
    "audit.purpose_unknown": ["申请事由不在现行目录中。", "The purpose is not in the list in force."],
    "certificate.bad_identifier": ["证照标识格式错误（GB/T 36904）。", "Not a certificate identifier (GB/T 36904)."],
    "certificate.not_found": ["本网络中没有这个证照。", "No such certificate in this network."],
    "sharing.not_shared": ["此类证照不予共享。", "This kind of certificate is not shared."],
    "sharing.no_grant": ["您没有查看此证照的共享授权。", "No sharing grant covers you for this certificate."],
    "sharing.purpose_not_granted": ["您的共享授权不包含此申请事由。", "Your grant does not cover this purpose."],
    "sharing.outside_scope": ["您的共享授权不覆盖该证照所属区划。", "Your grant does not cover the certificate's region."],
    "routing.unreachable": ["持有该证照的节点暂时无法连接，请稍后再试。", "The node holding it cannot be reached now; try again later."],
    "routing.timeout": ["持有该证照的节点没有及时应答，请稍后再试。", "The node holding it did not answer in time; try again later."],
    "request.bad_json": ["文件不是电子证照（JSON）。", "The file is not an electronic certificate (JSON)."],
    "request.body_too_large": ["文件太大，不是电子证照。", "The file is too large to be a certificate."],
    "service.database_unavailable": ["本节点暂时繁忙，请稍后再试。", "This node is busy; try again shortly."],
  };

  // ---------------------------------------------------------------------------------------
  // State.

  const params = new URLSearchParams(location.search);
  const stored = (() => { try { return localStorage.getItem("verify.lang"); } catch (_) { return null; } })();
  let lang = params.get("lang") === "en" || params.get("lang") === "zh" ? params.get("lang") : (stored === "en" ? "en" : "zh");
  let me = null;          // who is logged in (GET /v1/session), or null
  let purposes = [];      // the purpose list in force (GET /v1/purposes)
  let shown = null;       // what the result panel shows, to draw it again in the other language
  let pendingId = params.get("id"); // ?id=…: look it up once logged in

  const t = (key, ...args) => {
    const v = STR[lang][key];
    return typeof v === "function" ? v(...args) : v;
  };
  const pick = (pair) => pair[lang === "zh" ? 0 : 1];

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c == null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // ---------------------------------------------------------------------------------------
  // Talking to this node.

  async function api(method, path, body) {
    const init = { method, headers: { accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = body;
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (_) {
      return { status: 0, json: null };
    }
    let json = null;
    try { json = await resp.json(); } catch (_) { /* no body */ }
    return { status: resp.status, json };
  }

  function problemText(status, p) {
    if (status === 0) return t("network");
    if (p && PROBLEMS[p.code]) return pick(PROBLEMS[p.code]);
    const parts = [p && p.title, p && p.detail].filter(Boolean);
    return parts.length ? parts.join(": ") : `${t("request_failed")} (${status})`;
  }

  // ---------------------------------------------------------------------------------------
  // Language.

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = lang === "zh" ? "电子证照核验 · Certificate verification" : "Certificate verification · 电子证照核验";
    for (const e of document.querySelectorAll("[data-t]")) {
      const v = STR[lang][e.dataset.t];
      if (typeof v === "string") e.textContent = v;
    }
    for (const e of document.querySelectorAll("[data-tp]")) e.placeholder = STR[lang][e.dataset.tp];
    const toggle = $("lang");
    toggle.textContent = lang === "zh" ? "English" : "中文";
    toggle.lang = lang === "zh" ? "en" : "zh-CN";
    drawWho();
    drawPurposes();
    if (shown) shown();
  }

  // ---------------------------------------------------------------------------------------
  // Login.

  function drawWho() {
    const who = $("who");
    if (!me) {
      who.textContent = t("not_logged_in");
    } else {
      const role = (STR[lang].roles[me.role]) || me.role;
      const how = me.kind === "certificate" ? `, ${t("by_certificate")}` : "";
      who.textContent = t("logged_in_as", `${me.id}（${role}${how}）`);
    }
    $("logout").hidden = !me || me.kind !== "account";
    $("login").hidden = !!me;
    $("lookup").hidden = !me;
    document.body.dataset.user = me ? me.id : "";
  }

  async function loadMe() {
    const r = await api("GET", "/v1/session");
    me = r.status === 200 ? r.json : null;
    drawWho();
    if (me && pendingId) {
      const id = pendingId;
      pendingId = null;
      $("id-input").value = id;
      lookupId(id);
    }
  }

  async function login(ev) {
    ev.preventDefault();
    const err = $("login-error");
    err.hidden = true;
    const body = JSON.stringify({ username: $("login-username").value.trim(), password: $("login-password").value });
    $("login-submit").disabled = true;
    const r = await api("POST", "/v1/session", body);
    $("login-submit").disabled = false;
    if (r.status !== 200) {
      err.textContent = r.status === 401 ? t("login_failed") : problemText(r.status, r.json);
      err.hidden = false;
      return;
    }
    $("login-password").value = "";
    await loadMe();
  }

  async function logout() {
    await api("DELETE", "/v1/session");
    me = null;
    drawWho();
  }

  // ---------------------------------------------------------------------------------------
  // Purposes.

  async function loadPurposes() {
    const r = await api("GET", "/v1/purposes");
    purposes = r.status === 200 && r.json ? r.json.purposes || [] : [];
    drawPurposes();
  }

  function drawPurposes() {
    const select = $("purpose");
    const current = select.value || params.get("purpose") || "approval";
    select.replaceChildren(...purposes.map((p) =>
      el("option", { value: p.code }, lang === "en" && p.name_en ? p.name_en : p.name)));
    if (purposes.some((p) => p.code === current)) select.value = current;
    purposeChanged();
  }

  function purposeChanged() {
    const p = purposes.find((x) => x.code === $("purpose").value);
    $("purpose-text-row").hidden = !(p && p.requires_text);
  }

  // The purpose query parameters, or null (with a message) when a required text is missing.
  function purposeQuery() {
    const code = $("purpose").value;
    const p = purposes.find((x) => x.code === code);
    const q = new URLSearchParams({ purpose: code });
    const text = $("purpose-text").value.trim();
    if (p && p.requires_text) {
      if (!text) {
        showMessage(t("need_purpose_text"));
        return null;
      }
      q.set("purpose_text", text);
    }
    return q;
  }

  // ---------------------------------------------------------------------------------------
  // Verifying and looking up.

  function busy(text) {
    const box = $("result");
    box.dataset.state = "busy";
    delete box.dataset.valid;
    box.replaceChildren(el("div", { class: "placeholder" }, el("p", {}, text)));
  }

  function showMessage(text) {
    shown = null;
    const box = $("result");
    box.dataset.state = "error";
    delete box.dataset.valid;
    box.replaceChildren(el("div", { class: "verdict error", role: "alert" },
      el("div", { class: "mark" }, "!"), el("div", {}, el("p", { id: "message" }, text))));
  }

  async function verifyText(text) {
    let credential;
    try {
      credential = JSON.parse(text);
    } catch (e) {
      showMessage(t("bad_file") + e.message);
      return;
    }
    // A saved lookup answer carries the credential inside.
    if (credential && credential.credential && !credential.proof) credential = credential.credential;
    if (!credential || typeof credential !== "object" || Array.isArray(credential)) {
      showMessage(t("bad_file") + typeof credential);
      return;
    }
    busy(t("working"));
    const r = await api("POST", "/v1/certificates/verify", JSON.stringify(credential));
    if (r.status !== 200) {
      showMessage(problemText(r.status, r.json));
      return;
    }
    const view = { source: "file", verdict: r.json, credential, at: new Date() };
    shown = () => drawVerdict(view);
    shown();
  }

  async function verifyFile(file) {
    if (!file) return;
    $("file-name").textContent = file.name;
    const text = await file.text();
    $("json-input").value = text;
    await verifyText(text);
  }

  async function lookupId(id) {
    id = (id || "").trim();
    if (!id) { showMessage(t("need_id")); return; }
    const q = purposeQuery();
    if (!q) return;
    busy(t("searching"));
    const r = await api("GET", `/v1/certificates/${encodeURIComponent(id)}?${q}`);
    if (r.status !== 200) {
      showMessage(problemText(r.status, r.json));
      return;
    }
    const a = r.json;
    const view = { source: "lookup", verdict: a, credential: a.credential, subject: a.subject,
      identifier: a.identifier, version: a.version, served_by: a.served_by, at: new Date() };
    shown = () => drawVerdict(view);
    shown();
  }

  async function lookupHolder(code) {
    code = (code || "").trim();
    if (!code) { showMessage(t("need_holder")); return; }
    const q = purposeQuery();
    if (!q) return;
    q.set("holder_code", code);
    busy(t("searching"));
    const r = await api("GET", `/v1/certificates?${q}`);
    if (r.status !== 200) {
      showMessage(problemText(r.status, r.json));
      return;
    }
    shown = () => drawHolder(r.json);
    shown();
  }

  // ---------------------------------------------------------------------------------------
  // Drawing a result.

  const dateOf = (iso) => {
    if (!iso) return "";
    const d = String(iso).slice(0, 10);
    if (lang !== "zh" || !/^\d{4}-\d{2}-\d{2}$/.test(d)) return d;
    return `${d.slice(0, 4)}年${Number(d.slice(5, 7))}月${Number(d.slice(8, 10))}日`;
  };
  const timeOf = (date) => {
    const p = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
  };
  const bare = (id) => (id || "").replace(/^urn:ecert:/, "");

  // The surface fields, from the signed credential or from the `subject` view a grant limits.
  function fieldsOf(view) {
    const c = view.credential;
    if (c && typeof c === "object") {
      const s = c.credentialSubject || {};
      return {
        type: s.certificateName, type_code: s.certificateTypeCode, number: s.certificateNumber,
        holder: s.holder, authority: s.issuingAuthority, issue_date: s.issueDate,
        valid_from: c.validFrom, valid_until: c.validUntil, issuer: c.issuer && c.issuer.name,
        issuer_node: c.issuer && c.issuer.node, jurisdiction: s.jurisdiction,
        surface: s.surface, identifier: bare(c.id) || view.identifier, whole: true,
      };
    }
    const s = view.subject || {};
    return {
      type: s.certificateName, type_code: s.certificateTypeCode, number: s.certificateNumber,
      holder: s.holder, authority: s.issuingAuthority, issue_date: s.issueDate,
      valid_from: s.validFrom, valid_until: s.validUntil, jurisdiction: s.jurisdiction,
      surface: s.surface, identifier: view.identifier, whole: false,
    };
  }

  function fieldRows(f, view) {
    const withheld = () => el("span", { class: "withheld" }, t("withheld"));
    const or = (v, ...extra) => (v ? [v, ...extra] : [withheld()]);
    const holder = f.holder || {};
    const codeType = holder.codeType || holder.code_type;
    const codeLabel = codeType ? (STR[lang].code_types[codeType] || t("code_type", codeType)) : "";
    const validity = f.valid_from
      ? `${dateOf(f.valid_from)} ${t("until")} ${f.valid_until ? dateOf(f.valid_until) : t("indefinite")}`
      : null;
    const rows = [
      ["type", t("f_type"), or(f.type, f.type_code ? el("span", { class: "sub mono" }, f.type_code) : null)],
      ["number", t("f_number"), or(f.number)],
      ["holder", t("f_holder"), holder.name || holder.code
        ? [holder.name || "", el("span", { class: "sub" }, [codeLabel, codeLabel ? (lang === "zh" ? "：" : ": ") : "", el("span", { class: "mono" }, holder.code || "")])]
        : [withheld()]],
      ["authority", t("f_authority"), f.authority
        ? [f.authority.name, f.authority.creditCode ? el("span", { class: "sub mono" }, f.authority.creditCode) : null]
        : [withheld()]],
      ["issue_date", t("f_issue_date"), or(dateOf(f.issue_date))],
      ["validity", t("f_validity"), or(validity)],
    ];
    if (f.whole) rows.push(["issuer", t("f_issuer"), [f.issuer || "", f.issuer_node ? el("span", { class: "sub mono" }, f.issuer_node) : null]]);
    if (f.identifier) rows.push(["identifier", t("f_identifier"), [el("span", { class: "mono" }, f.identifier), view.version ? el("span", { class: "sub" }, `${t("f_version")} ${view.version}`) : null]]);
    return el("dl", { class: "fields" }, rows.map(([key, label, value]) =>
      [el("dt", {}, label), el("dd", { "data-field": key }, value)]));
  }

  function headline(verdict) {
    const failed = (check) => verdict.checks && verdict.checks[check] === "fail";
    const code = (c) => (verdict.errors || []).some((e) => e.code === c);
    if (verdict.valid) return t("valid");
    if (code("status.revoked")) return t("revoked");
    if (code("status.suspended")) return t("suspended");
    if (failed("signature")) return t("tampered");
    if (code("validity.expired")) return t("expired");
    if (code("validity.not_yet_valid")) return t("not_yet");
    if (failed("issuer_trusted")) return t("untrusted");
    return t("invalid");
  }

  function checkLines(verdict) {
    return el("ol", { class: "checks" }, CHECKS.map(([key, words]) => {
      const result = (verdict.checks && verdict.checks[key]) || "skipped";
      const [name, reasons] = words[lang];
      const errors = (verdict.errors || []).filter((e) => e.check === key);
      const precise = errors.map((e) => REASONS[e.code]).find(Boolean);
      const reason = result === "fail" && precise ? pick(precise) : reasons[result];
      const mark = { pass: "✓", fail: "✗", skipped: "–" }[result] || "?";
      return el("li", { class: `check ${result}`, "data-check": key, "data-result": result },
        el("span", { class: "mark", "aria-hidden": "true" }, mark),
        el("div", {},
          el("span", { class: "name" }, name),
          el("span", { class: "badge" }, STR[lang].result[result] || result),
          el("p", { class: "reason" }, reason),
          errors.map((e) => el("p", { class: "tech mono" }, `${e.code}: ${e.message}`))));
    }));
  }

  function drawVerdict(view) {
    const v = view.verdict;
    const box = $("result");
    const f = fieldsOf(view);
    const results = CHECKS.map(([k]) => (v.checks && v.checks[k]) || "skipped");
    const passed = results.filter((r) => r === "pass").length;
    const skipped = results.filter((r) => r === "skipped").length;
    box.dataset.state = "verdict";
    box.dataset.valid = String(!!v.valid);
    box.dataset.source = view.source;
    box.dataset.identifier = f.identifier || "";
    box.dataset.servedBy = view.served_by || "";

    const sub = !v.valid ? t("do_not_rely") : skipped ? t("some_skipped", passed, skipped) : t("all_passed", passed);
    const verdict = el("div", { class: `verdict ${v.valid ? "ok" : "bad"}`, id: "verdict" },
      el("div", { class: "mark", "aria-hidden": "true" }, v.valid ? "✓" : "✗"),
      el("div", {}, el("h2", { id: "headline" }, headline(v)), el("p", {}, sub)));

    const surface = f.surface && typeof f.surface === "object" ? Object.entries(f.surface) : [];
    const info = el("div", {},
      el("h3", {}, t("info")),
      fieldRows(f, view),
      surface.length ? el("details", { id: "surface" }, el("summary", {}, t("surface", surface.length)),
        el("dl", { class: "fields" }, surface.map(([k, val]) =>
          [el("dt", {}, k), el("dd", {}, typeof val === "string" ? val : JSON.stringify(val))]))) : null);
    let qr = null;
    if (f.identifier) {
      const img = el("img", { alt: t("qr_alt"), width: 164, height: 164, id: "qr" });
      img.src = `/v1/certificates/${encodeURIComponent(f.identifier)}/qr.svg`;
      qr = el("div", { class: "qr" }, img, el("p", {}, t("qr")));
    }

    // What the clerk can do about checks this node could not make.
    let note = null;
    if (skipped && v.valid) {
      const online = view.source === "file" && f.identifier && v.checks && v.checks.not_revoked === "skipped";
      note = el("p", { class: "note", id: "skipped-note" }, t("skipped_note"),
        online ? (me
          ? el("button", { type: "button", class: "primary small", id: "check-online", onclick: () => { $("id-input").value = f.identifier; lookupId(f.identifier); } }, t("check_online"))
          : ` ${t("need_login_for_online")}`) : null);
    }

    const node = document.body.dataset.nodeRegion;
    const provenance = el("p", { class: "provenance" },
      view.source === "file" ? `${t("from_file", node)} ${t("at", timeOf(view.at))}`
        : t("from_lookup", view.served_by || "?", t("at", timeOf(view.at))));

    box.replaceChildren(...[verdict,
      el("div", { class: "summary" }, info, qr),
      el("h3", {}, t("checks")), checkLines(v), note, provenance].filter(Boolean));
  }

  function drawHolder(answer) {
    const box = $("result");
    const list = answer.certificates || [];
    box.dataset.state = "holder";
    delete box.dataset.valid;
    box.dataset.servedBy = answer.served_by || "";
    const rows = list.map((c) => {
      const f = fieldsOf({ credential: c.credential, subject: c.subject, identifier: c.identifier });
      const holder = f.holder || {};
      return el("tr", { "data-identifier": c.identifier },
        el("td", {}, f.type || "", el("span", { class: "sub mono" }, c.identifier)),
        el("td", {}, f.number || el("span", { class: "withheld" }, "–")),
        el("td", {}, holder.name || "", el("span", { class: "sub mono" }, holder.code || "")),
        el("td", {}, f.valid_from ? `${dateOf(f.valid_from)} ${t("until")} ${f.valid_until ? dateOf(f.valid_until) : t("indefinite")}` : "–"),
        el("td", {}, el("button", { type: "button", class: "primary small", onclick: () => { $("id-input").value = c.identifier; lookupId(c.identifier); } }, t("open"))));
    });
    box.replaceChildren(...[
      el("h3", {}, t("holder_results", list.length, answer.holder_code || "")),
      list.length ? el("table", { class: "list" },
        el("colgroup", {}, ["type", "number", "holder", "validity", "open"].map((c) => el("col", { class: c }))),
        el("thead", {}, el("tr", {}, [t("f_type"), t("f_number"), t("f_holder"), t("f_validity"), ""].map((h) => el("th", {}, h)))),
        el("tbody", {}, rows)) : el("p", {}, t("holder_none")),
      answer.withheld ? el("p", { class: "note" }, t("holder_withheld", answer.withheld)) : null,
      el("p", { class: "provenance" }, t("served_by", answer.served_by || "?"))].filter(Boolean));
  }

  // ---------------------------------------------------------------------------------------
  // Wiring.

  const drop = $("drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) drop.addEventListener(type, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    verifyFile(file);
  });
  // A file dropped beside the zone must not replace the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  $("file-input").addEventListener("change", (e) => verifyFile(e.target.files[0]));
  $("verify-json").addEventListener("click", () => {
    const text = $("json-input").value.trim();
    if (!text) { showMessage(t("empty")); return; }
    verifyText(text);
  });
  $("login").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("purpose").addEventListener("change", purposeChanged);
  $("id-submit").addEventListener("click", () => lookupId($("id-input").value));
  $("holder-submit").addEventListener("click", () => lookupHolder($("holder-input").value));
  for (const [input, button] of [["id-input", "id-submit"], ["holder-input", "holder-submit"]]) {
    $(input).addEventListener("keydown", (e) => { if (e.key === "Enter") $(button).click(); });
  }
  $("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    try { localStorage.setItem("verify.lang", lang); } catch (_) { /* private mode */ }
    applyLang();
  });
  if (pendingId) $("id-input").value = pendingId;

  applyLang();
  // The purposes first: a lookup of ?id= runs as soon as someone is logged in.
  loadPurposes().then(loadMe).then(() => { document.body.dataset.ready = "true"; });
})();
