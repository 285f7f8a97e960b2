/*
 * status_feed.c - the status page's live feed panel
 *
 * A list the page's one script fills from GET /api/v1/feed?format=sse, read
 * with fetch() and a stream reader rather than EventSource: with auth on
 * the feed needs an Authorization header, which EventSource cannot send,
 * and a token never goes into a URL. With auth on the panel asks for a
 * token (scope read), kept in the tab's sessionStorage. The page reloads
 * itself every STATUS_REFRESH_S seconds: the panel keeps its last changes
 * and its cursor in sessionStorage and resumes after it, so a reload loses
 * nothing. The script is inline and allowed by its SHA-256 in the page's
 * Content-Security-Policy (status_feed_csp()), which still forbids every
 * other script and lets it connect to this origin only.
 */
#include "handlers/status.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "handlers/html.h"

static const char feed_script[] =
    "(function(){'use strict';"
    "var list=document.getElementById('feed-list'),state=document.getElementById('feed-state'),"
    "ask=document.getElementById('feed-auth'),input=document.getElementById('feed-token'),"
    "K='ingestd.feed',T='ingestd.feed.token',saved={};"
    "try{saved=JSON.parse(sessionStorage.getItem(K))||{};}catch(e){}"
    "var items=saved.items||[],after=saved.after;"
    "function save(){try{sessionStorage.setItem(K,JSON.stringify({items:items.slice(-50),"
    "after:after}));}catch(e){}}"
    "function show(c){var li=document.createElement('li'),t=document.createElement('code');"
    "li.className='change';li.dataset.id=String(c.id);li.dataset.type=c.type;"
    "t.textContent=c.type.replace(/^io\\.ingestd\\./,'');li.appendChild(t);"
    "li.appendChild(document.createTextNode(' '+(c.subject||'')+' \\u00b7 '+c.time));"
    "list.insertBefore(li,list.firstChild);"
    "while(list.children.length>50)list.removeChild(list.lastChild);}"
    "items.forEach(show);"
    "function take(block){var ev='message',id=null,data=[];"
    "block.split('\\n').forEach(function(l){if(l.indexOf('id: ')===0)id=l.slice(4);"
    "else if(l.indexOf('event: ')===0)ev=l.slice(7);"
    "else if(l.indexOf('data: ')===0)data.push(l.slice(6));});"
    "if(id!==null)after=Number(id);"
    "if(ev!=='resume'&&data.length){var c=JSON.parse(data.join('\\n'));items.push(c);"
    "items=items.slice(-50);show(c);}save();}"
    "async function run(){var h={Accept:'text/event-stream'},tk=sessionStorage.getItem(T);"
    "if(tk)h.Authorization='Bearer '+tk;"
    "var r=await fetch('/api/v1/feed?format=sse'+(after!=null?'&after='+after:''),"
    "{headers:h,cache:'no-store'});"
    "if(r.status===401||r.status===403){state.textContent='needs a token with scope read';"
    "ask.hidden=false;return false;}"
    "if(!r.ok)throw new Error('HTTP '+r.status);"
    "state.textContent='live';var rd=r.body.getReader(),dec=new TextDecoder(),buf='';"
    "for(;;){var x=await rd.read();if(x.done)break;"
    "buf+=dec.decode(x.value,{stream:true}).replace(/\\r\\n?/g,'\\n');var i;"
    "while((i=buf.indexOf('\\n\\n'))>=0){take(buf.slice(0,i));buf=buf.slice(i+2);}}"
    "return true;}"
    "function loop(){run().then(function(again){if(again){state.textContent='reconnecting';"
    "setTimeout(loop,2000);}},function(){state.textContent='reconnecting';"
    "setTimeout(loop,2000);});}"
    "document.getElementById('feed-go').addEventListener('click',function(){"
    "sessionStorage.setItem(T,input.value);input.value='';ask.hidden=true;loop();});"
    "loop();})();";

void
status_feed_render(struct buf *out, int auth_on)
{
    buf_printf(out,
               "<section id=\"feed\"><h2>Live feed <span class=\"muted\" id=\"feed-state\">"
               "connecting</span></h2>\n<p class=\"muted\">Changes as they are committed "
               "(<code>GET /api/v1/feed?format=sse</code>), newest first.</p>"
               "<p id=\"feed-auth\" hidden>Token (scope read): "
               "<input id=\"feed-token\" type=\"password\" autocomplete=\"off\"%s> "
               "<button id=\"feed-go\" type=\"button\">show</button></p>"
               "<ol id=\"feed-list\" reversed></ol>\n<script>%s</script></section>\n",
               auth_on ? " data-auth=\"on\"" : "", feed_script);
}

void
status_feed_csp(char *out, size_t outlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    unsigned int n = 0;

    EVP_Digest(feed_script, strlen(feed_script), md, &n, EVP_sha256(), NULL);
    EVP_EncodeBlock(b64, md, (int)n);
    snprintf(out, outlen, "%s; script-src 'sha256-%s'; connect-src 'self'", HTML_CSP, b64);
}
