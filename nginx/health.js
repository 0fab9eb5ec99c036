// Aggregated health for GET /api/health (njs 0.7.9: async/await and r.subrequest Promises).
//
// Probes every service's /health in parallel through the internal /_health/<name> locations, whose
// short proxy timeouts bound the wait, and answers 200 only when every service answered 200.
// The service list comes from the $health_services variable set by the gateway template.

function parseBody(text) {
    try {
        return JSON.parse(text);
    } catch (e) {
        return null;
    }
}

async function probe(r, name) {
    try {
        const reply = await r.subrequest('/_health/' + name, { method: 'GET' });
        const body = parseBody(reply.responseText);
        const status = body && typeof body.status === 'string' ? body.status : 'unavailable';
        const checks = body && typeof body.checks === 'object' ? body.checks : {};
        return { name: name, healthy: reply.status === 200, http_status: reply.status,
                 status: reply.status === 200 ? status : 'unavailable', checks: checks };
    } catch (e) {
        return { name: name, healthy: false, http_status: 502, status: 'unavailable', checks: {} };
    }
}

function overallStatus(results) {
    if (results.some((result) => !result.healthy)) {
        return 'unavailable';
    }
    return results.every((result) => result.status === 'ok') ? 'ok' : 'degraded';
}

async function aggregate(r) {
    const names = r.variables.health_services.split(' ').filter((name) => name.length > 0);
    const results = await Promise.all(names.map((name) => probe(r, name)));
    const services = {};
    // njs 0.7 has no for...of.
    results.forEach((result) => {
        services[result.name] = { status: result.status, http_status: result.http_status,
                                  checks: result.checks };
    });
    const failing = results.filter((result) => !result.healthy).map((result) => result.name);
    const document = { status: overallStatus(results), services: services, failing: failing };
    r.headersOut['Content-Type'] = 'application/json';
    r.headersOut['Cache-Control'] = 'no-store';
    r.return(failing.length === 0 ? 200 : 503, JSON.stringify(document) + '\n');
}

export default { aggregate };
